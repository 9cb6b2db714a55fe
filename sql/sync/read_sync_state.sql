-- One object's watermark and the columns its last sync covered (null: not recorded).
-- params: $crm, $object
select watermark, columns from ops.sync_state where crm = $crm and object = $object
