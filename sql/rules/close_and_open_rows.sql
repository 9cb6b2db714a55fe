-- Close the stored rows a result lost at the run's sequence number, and open the ones it
-- gained there.
-- inputs: match_diff; template: {rows} the stored match rows; params: $seq
update {rows} set to_seq = $seq
where rowid in (select stored_at from match_diff where rule is null);
insert into {rows} by name
select rule, version, is_pending, bucket, email, company_domain, reason, $seq as from_seq
from match_diff
where stored_at is null;
drop table match_diff;
