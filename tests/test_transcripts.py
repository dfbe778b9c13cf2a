"""Reading timecodes and WebVTT transcripts as archivists paste them."""

import pytest

from archive.errors import Invalid
from archive.media.transcripts import format_timecode, parse_timecode, parse_vtt

GOOD_VTT = """WEBVTT - a fictional interview

NOTE The names in this file are invented.

1
00:00:01.000 --> 00:00:04.500 align:start
<v.loud Narrator>We left the village at night.
The snow was deep.

00:05.000 --> 00:09.250
<v Interviewer>Where did you go?</v>

00:00:09.250 --> 00:00:15.000
To the forest, along the river.
"""


def test_a_pasted_webvtt_transcript_becomes_segments_with_the_voice_as_speaker():
    segments = parse_vtt(GOOD_VTT)

    assert segments == [
        {
            "start_ms": 1000,
            "end_ms": 4500,
            "speaker": "Narrator",
            "text": "We left the village at night. The snow was deep.",
            "keywords": [],
        },
        {
            "start_ms": 5000,
            "end_ms": 9250,
            "speaker": "Interviewer",
            "text": "Where did you go?",
            "keywords": [],
        },
        {
            "start_ms": 9250,
            "end_ms": 15000,
            "speaker": "",
            "text": "To the forest, along the river.",
            "keywords": [],
        },
    ]


def test_windows_line_endings_and_a_byte_order_mark_are_read_alike():
    text = "\ufeff" + GOOD_VTT.replace("\n", "\r\n")

    assert parse_vtt(text) == parse_vtt(GOOD_VTT)


def test_a_transcript_without_the_webvtt_header_is_refused_on_line_1():
    with pytest.raises(Invalid) as error:
        parse_vtt("00:00:01.000 --> 00:00:02.000\nHello")

    assert error.value.fields["vtt"].startswith("Line 1:")


def test_an_unreadable_timing_names_its_cue_and_line():
    text = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nFine.\n\n00:00:xx.000 --> 00:00:05.000\nBroken.\n"

    with pytest.raises(Invalid) as error:
        parse_vtt(text)

    message = error.value.fields["vtt"]
    assert "Cue 2 (line 6)" in message
    assert "00:00:xx.000" in message
    assert "Cue 1" not in message


def test_a_cue_that_ends_before_it_starts_names_its_cue_and_line():
    text = "WEBVTT\n\n1\n00:00:05.000 --> 00:00:02.000\nBackwards.\n"

    with pytest.raises(Invalid) as error:
        parse_vtt(text)

    assert "Cue 1 (line 4): the end time must be after the start time." in error.value.fields["vtt"]


def test_a_block_without_a_timing_line_and_an_empty_cue_are_both_reported():
    text = "WEBVTT\n\nJust some words.\n\n00:00:03.000 --> 00:00:04.000\n<v Narrator></v>\n"

    with pytest.raises(Invalid) as error:
        parse_vtt(text)

    message = error.value.fields["vtt"]
    assert "Cue 1 (line 3): no timing line" in message
    assert "Cue 2 (line 5): the cue has no text." in message


def test_a_file_with_a_header_and_no_cues_is_refused():
    with pytest.raises(Invalid) as error:
        parse_vtt("WEBVTT\n\nNOTE nothing here yet\n")

    assert error.value.fields["vtt"] == "The WebVTT transcript has no cues."


@pytest.mark.parametrize(
    ("typed", "ms"),
    [("0:00", 0), ("1:30", 90_000), ("12:34.5", 754_500), ("1:02:03", 3_723_000), ("90500", 90_500)],
)
def test_timecodes_are_read_as_minutes_hours_or_milliseconds(typed, ms):
    assert parse_timecode(typed) == ms


@pytest.mark.parametrize("typed", ["", "1:75", "1:60:00", "ten", "1::2", "-5"])
def test_a_timecode_that_cannot_be_read_is_refused(typed):
    with pytest.raises(ValueError):
        parse_timecode(typed)


@pytest.mark.parametrize("ms", [0, 59_000, 754_500, 3_723_000, 36_000_001])
def test_a_formatted_timecode_reads_back_to_the_same_milliseconds(ms):
    assert parse_timecode(format_timecode(ms)) == ms
