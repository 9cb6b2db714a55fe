-- One source of a configurable crm table with its configured columns (`custom:<name>`,
-- each the CRM property's value as text, or null where the source lacks it), which the
-- model files pick with COLUMNS('^custom:') (tasks/model.py add_custom_columns).
-- template: {view}, {raw} (the raw table), {columns} (the configured columns' expressions)
create or replace temp view {view} as select *, {columns} from {raw}
