-- The object's new watermark: the newest modification staged, never past the newest the
-- CRM had when the run started ($cap); with nothing staged, $empty.
-- inputs: _checked; params: $cap, $empty
select coalesce(least(max(_cursor), $cap::timestamp), $empty::timestamp) from _checked
