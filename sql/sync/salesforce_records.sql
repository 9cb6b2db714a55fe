-- Salesforce query pages (`records[]`) unpacked into one text column per field.
-- inputs: pages (page_no, body); template: {struct} the JSON shape of a record,
-- {fields} the field columns
with recs as (
    select page_no, unnest(from_json(body, '{{"records":[{struct}]}}').records) as r
    from pages
)
select page_no, {fields} from recs
