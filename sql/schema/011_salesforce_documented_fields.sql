-- Salesforce's Task has no ActionCadenceId and ActionCadenceTracker no CurrentStepNumber
-- (Object Reference for the Salesforce Platform: Task, ActionCadenceTracker). A cadence's
-- own emails are Tasks of TaskSubtype 'Cadence'; where a target is in its cadence comes
-- from the tracker's documented fields below and the step objects.
alter table raw_salesforce.Task drop column ActionCadenceId;
alter table raw_salesforce.ActionCadenceTracker drop column CurrentStepNumber;
alter table raw_salesforce.ActionCadenceTracker add column OwnerId varchar;
alter table raw_salesforce.ActionCadenceTracker add column IsTrackerActive boolean;
alter table raw_salesforce.ActionCadenceTracker add column CurrentStepId varchar;
alter table raw_salesforce.ActionCadenceTracker add column LastCompletedStepId varchar;
