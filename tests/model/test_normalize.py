"""The model's normalizations (sql/model/000_macros.sql), one value at a time."""

from __future__ import annotations

from datetime import datetime

import pytest


@pytest.mark.parametrize("raw, domain", [
    ("acme.com", "acme.com"),
    ("Acme.COM", "acme.com"),
    ("www.acme.com", "acme.com"),
    ("  https://www.Acme.com/about?x=1#top ", "acme.com"),
    ("http://acme.co.uk:8080/", "acme.co.uk"),
    ("acme.com.", "acme.com"),
    ("acme.com/", "acme.com"),
    ("ftp://user:pw@files.acme.io/x", "files.acme.io"),
    ("ann@Acme.com", "acme.com"),
    ("acme.com, acme.io", "acme.com"),
    ("n/a", None),
    ("localhost", None),
    ("", None),
    (None, None),
])
def test_normalize_domain_strips_everything_but_the_host(scratch, raw, domain):
    assert scratch.execute("select crm.normalize_domain(?)", [raw]).fetchall() == [(domain,)]


@pytest.mark.parametrize("raw, email", [
    ("  Ann@ACME.com ", "ann@acme.com"),
    ("not an email", None),
    (None, None),
])
def test_normalize_email_trims_and_lowers(scratch, raw, email):
    assert scratch.execute("select crm.normalize_email(?)", [raw]).fetchall() == [(email,)]


@pytest.mark.parametrize("raw, email", [
    ("ann@acme.com", "ann@acme.com"),
    ("Ann Lee <Ann@Acme.com>", "ann@acme.com"),
    ("ann@acme.com; bo@acme.com", "ann@acme.com"),
    ('"Lee, Ann" <ann@acme.com>', "ann@acme.com"),
])
def test_first_email_takes_the_first_address_of_a_header(scratch, raw, email):
    assert scratch.execute("select crm.first_email(?)", [raw]).fetchall() == [(email,)]


@pytest.mark.parametrize("raw, moment", [
    ("2026-03-01T08:30:00.000Z", datetime(2026, 3, 1, 8, 30)),
    ("2026-03-01T10:30:00+02:00", datetime(2026, 3, 1, 8, 30)),
    ("2026-03-01", datetime(2026, 3, 1)),
    ("1772353800000", datetime(2026, 3, 1, 8, 30)),
    ("soon", None),
])
def test_parse_time_reads_hubspot_datetimes_as_utc(scratch, raw, moment):
    assert scratch.execute("select crm.parse_time(?)", [raw]).fetchall() == [(moment,)]


def test_free_mail_domains_are_known(scratch):
    assert scratch.execute(
        "select crm.is_free_mail_domain('gmail.com'), crm.is_free_mail_domain('acme.com')"
    ).fetchall() == [(True, False)]
