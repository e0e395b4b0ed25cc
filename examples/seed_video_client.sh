#!/bin/bash
# The original README's client, for video: create a video task, poll every 3 s (up to 60 times), then
# download the MP4. BASE_URL defaults to the local server; OUT names the downloaded file (default: a new
# file in the system's temporary folder, never in this repository).
BASE_URL="${BASE_URL:-http://127.0.0.1:8000}"
OUT="${OUT:-$(mktemp --suffix=.mp4 "${TMPDIR:-/tmp}/jimeng-video-XXXXXX")}"

# 1. 创建视频生成任务
RESPONSE=$(curl -s -X POST "$BASE_URL/api/v1/ai/video/task" \
  -H "Content-Type: application/json" \
  -d '{
    "prompt": "一只可爱的小猫咪在花园里追蝴蝶",
    "user_id": "user_123",
    "model": "jimeng_t2v_v30",
    "duration": 5,
    "aspect_ratio": "16:9"
  }')

TASK_ID=$(echo "$RESPONSE" | jq -r '.data.task_id')
echo "任务ID: $TASK_ID"

# 2. 轮询任务结果
for i in {1..60}; do
  RESULT=$(curl -s "$BASE_URL/api/v1/ai/video/result/$TASK_ID")
  STATUS=$(echo "$RESULT" | jq -r '.data.status')
  echo "第 $i 次查询，状态: $STATUS"

  if [ "$STATUS" = "completed" ]; then
    VIDEO_URL=$(echo "$RESULT" | jq -r '.data.result.video_url')
    echo "视频生成完成: $VIDEO_URL"
    # 3. 下载视频
    curl -sfL -o "$OUT" "$VIDEO_URL" && echo "已下载: $OUT ($(wc -c < "$OUT") 字节)"
    break
  elif [ "$STATUS" = "failed" ]; then
    MESSAGE=$(echo "$RESULT" | jq -r '.data.message')
    echo "任务失败: $MESSAGE"
    break
  fi

  sleep 3
done
