-- Fill a re-created crm.* table with model_next's rows in one insert.
-- inputs: model_next; template: {table}, {columns}, {values}
insert into {table} ({columns})
select {values} from model_next as s
