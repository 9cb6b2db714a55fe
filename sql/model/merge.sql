-- Make a keyed crm.* table hold exactly model_next's rows, writing only the new, changed
-- and gone ones (a cycle changes ~1% of them).
-- inputs: model_next; template: {table}, {on} (the key's equality), {old} and {new} (the
-- other columns of the table and of the model), {updates}, {columns} and {values}
merge into {table} as t
using model_next as s on {on}
when matched and row({old}) is distinct from row({new}) then update set {updates}
when not matched then insert ({columns}) values ({values})
when not matched by source then delete
