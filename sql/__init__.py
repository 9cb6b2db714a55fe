"""seqguard's own SQL, shipped with the package and found through importlib.resources
(tasks/core/resources.py): schema/ (migrations), model/ (crm.*), decide/, post/, rules/,
lists/, sync/ and exclusions/builtin/ are what seqguard runs. The rest of this folder
(exclusions/*.sql, exclusions/lists/, plays/, rulesets.yml, domain_aliases.csv) is the
example project `seqguard init DIR` copies (tasks/core/scaffold.py): a user's project folder
of their own, never this one."""
