-- One rule version's SELECT as its level's key, normalized as the model keys people and
-- companies (crm.normalize_email / crm.normalize_domain), its reason as text, and the
-- row's hash (which rules.bucket_of buckets). The rule starts on line 1, so DuckDB's line
-- numbers stay the rule's.
-- template: {rule} the rule's SELECT (its final `;` dropped), {key} email or
-- company_domain, {value} the key normalized, {reason} the reason column or null
select *, hash({key}, reason) as row_hash from (select {value} as {key}, {reason}::varchar as reason from ({rule}
) as rule_output) as normalized
