"""The local provider draws Chinese prompts legibly on a fresh machine: the CJK font comes with the
Python requirements (Noto Sans CJK, SIL OFL 1.1), not from the system."""

from PIL import ImageFont

from providers.local import font_at, packaged_cjk_font


def test_the_packaged_cjk_font_draws_chinese():
    assert packaged_cjk_font() is not None
    font = font_at(40)
    assert isinstance(font, ImageFont.FreeTypeFont)
    assert font.getname()[0] == "Noto Sans CJK SC"
    # Missing glyphs would all draw the same box ("tofu"); real ones differ from it and each other.
    cat, garden, missing = (bytes(font.getmask(text)) for text in ("猫", "园", "\U000e01ef"))
    assert cat != garden and missing not in (cat, garden)
    assert sum(cat) > 0
