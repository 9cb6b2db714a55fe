-- who enters: people a webinar sign-up form created in the last day (the form creates
-- the contact as a subscriber); event_at is the sign-up, the play's delay counts from it
select email, created_at as event_at
from crm.people
where lifecycle_stage = 'subscriber'
    and created_at between cycle_time() - interval 1 day and cycle_time()
