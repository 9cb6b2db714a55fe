-- Per play: the people queued this cycle, and the audience it ran.
-- inputs: d_queue, d_audience
select 'queued' as what, play, count(*) from d_queue group by all
union all
select 'audience', play, count(distinct email) from d_audience group by all
order by all
