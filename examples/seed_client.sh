#!/bin/bash
# The original product's README client: create a task, then poll every 3 s, up to 30 times.
# Runs unchanged against Jimeng Server; BASE_URL defaults to the local server.
BASE_URL="${BASE_URL:-http://127.0.0.1:8000}"

# 1. 创建图片生成任务
RESPONSE=$(curl -s -X POST "$BASE_URL/api/v1/ai/image/task" \
  -H "Content-Type: application/json" \
  -d '{
    "prompt": "一只可爱的小猫咪在花园里玩耍",
    "user_id": "user_123",
    "model": "doubao-seedream-3.0-t2i",
    "size": "1024x1024",
    "quality": "standard"
  }')

TASK_ID=$(echo "$RESPONSE" | jq -r '.data.task_id')
echo "任务ID: $TASK_ID"

# 2. 轮询任务结果
for i in {1..30}; do
  RESULT=$(curl -s "$BASE_URL/api/v1/ai/image/result/$TASK_ID")
  STATUS=$(echo "$RESULT" | jq -r '.data.status')
  echo "第 $i 次查询，状态: $STATUS"

  if [ "$STATUS" = "completed" ]; then
    IMAGE_URL=$(echo "$RESULT" | jq -r '.data.result.image_url')
    echo "图片生成完成: $IMAGE_URL"
    break
  elif [ "$STATUS" = "failed" ]; then
    MESSAGE=$(echo "$RESULT" | jq -r '.data.message')
    echo "任务失败: $MESSAGE"
    break
  fi

  sleep 3
done
