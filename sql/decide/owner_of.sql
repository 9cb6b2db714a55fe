-- A person's owner in the CRM (the inbox their enrollments send from by default).
-- params: $email
select owner_email from crm.people where email = $email and owner_email is not null
limit 1
