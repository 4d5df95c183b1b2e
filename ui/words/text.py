"""Templates of the codes models/demo/text.py raises or returns (the encoder–decoder page's demo tasks)."""
from ui.i18n import N_

TEMPLATES = {
    "text.empty_input": N_("The input is empty: type some text."),
    "text.missing_checkpoint": N_(
        "No checkpoint at {path} (with its .json); train it with {command}."
    ),
    "text.too_long_chars": N_(
        "The input is too long ({n:,} characters); the model reads at most {limit} characters, the most it was "
        "trained on, so only the first {limit} were used."
    ),
    "text.too_long_words": N_(
        "The input is too long ({n} words); the model reads at most {limit} words, the most it was trained on, so "
        "only the first {limit} were used."
    ),
    "text.too_long_paste": N_(
        "The input is too long ({n:,} characters); the model reads at most {limit} words, the most it was trained "
        "on, so only the first {limit} were used."
    ),
    "text.unknown": N_("Not in its vocabulary, so read as `<unk>` (the model cannot see what they are): {tokens}."),
    "text.padding_limited": N_("Padding is limited to the model's maximum length of {max_len} tokens."),
    "text.longer_than_trained_chars": N_(
        "It is longer ({n} characters) than any input it was trained on (at most {longest})."
    ),
    "text.longer_than_trained_words": N_(
        "It is longer ({n} words) than any input it was trained on (at most {longest})."
    ),
    "text.no_end": N_(
        "It wrote {n} tokens, the most it may, without ever writing the end token `</s>`: it went round in a loop or "
        "did not know where to stop."
    ),
    "text.low_confidence": N_(
        "Its confidence is low: it gave the token {token} it wrote at step {step} a probability of only {p:.2f}."
    ),
    "text.date_cn_numerals": N_(
        "{text} looks like a date, but its Chinese numerals for the month or day are not written as in its "
        "training data (十一, 二十一, ...)."
    ),
    "text.date_not_real": N_(
        "{text} looks like a date, but it is not a real calendar day (month {month}, day {day}), and every date "
        "it was trained on was one."
    ),
    "text.date_year_range": N_(
        "{text} looks like a date, but the year {year} is outside 1900–2099, the years it was trained on."
    ),
    "text.date_ordinal": N_(
        "{text} looks like a date, but {written} is not how its training data write the ordinal ({right})."
    ),
    "text.date_sunday": N_("{text} looks like a date, but 星期天 (Sunday) does not match the date."),
    "text.date_weekday": N_(
        "{text} looks like a date, but {day} {month_name} {year} is a {actual}, not a {given}: its training data "
        "always gave the right weekday."
    ),
    "text.date_day_first_slashes": N_(
        "In its training data, a date with slashes and the year last is always month/day/year (US style, "
        "`11/21/2026`), never day/month/year. {text} puts {a} in the month place, a form it never saw, so it may "
        "swap or garble day and month. Write it as {a}.{b}.{y} (day.month.year, with dots) or with the month's name."
    ),
    "text.date_read_as_mdy": N_(
        "Day and month could be read either way here. In its training data this form is always month/day/year (US "
        "style), so the model reads it as {day} {month_name} {year}."
    ),
    "text.date_read_as_dmy": N_(
        "Day and month could be read either way here. In its training data this form is always day.month.year, so "
        "the model reads it as {day} {month_name} {year}."
    ),
    "text.date_read_as_ymd": N_(
        "Day and month could be read either way here. In its training data this form is always year, month, day, "
        "so the model reads it as {day} {month_name} {year}."
    ),
    "text.date_unknown_form": N_(
        "{text} is not a date written in any of the styles it was trained on (`21 Nov 2026`, `November 21st, 2026`, "
        "`the 21st of November 2026`, `Saturday, 21 November 2026`, `11/21/26`, `21.11.2026`, `2026/11/21`, "
        "`2026-11-21`, `2026年11月21日`, ...)."
    ),
    "text.date_output": N_(
        "Its output {output} is not a real date written as YYYY-MM-DD, the only form it learned to write."
    ),
    "text.grammar_breaks": N_(
        "Its training sentences all follow one small grammar (subject, then a verb from its lexicon, an object if "
        "the verb takes one, maybe a phrase with a preposition or a `that` clause, maybe a full stop); this one does "
        "not: it fits up to {fits} but not from {word} on."
    ),
    "text.grammar_start": N_(
        "Its training sentences all follow one small grammar (subject, then a verb from its lexicon, an object if "
        "the verb takes one, maybe a phrase with a preposition or a `that` clause, maybe a full stop); this one does "
        "not: it does not start as its sentences do (a determiner: {determiners})."
    ),
    "text.grammar_incomplete": N_(
        "Its training sentences all follow one small grammar (subject, then a verb from its lexicon, an object if "
        "the verb takes one, maybe a phrase with a preposition or a `that` clause, maybe a full stop); this one does "
        "not: it stops before the sentence is complete."
    ),
    "text.repeats": N_(
        "Its output repeats itself ({words} twice in a row), which no sentence of its training data does: the "
        "decoder is going round in a loop."
    ),
}
