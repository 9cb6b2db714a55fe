"""The decide stage: from a run's matches and scopes, the current enrollments and the
requests (released play items, manual enrolls, recoveries; requests.py), the changes as
sets: unenroll, block, skip, enroll (decide.py, over sql/decide/), written with their
outbox rows in one transaction. plays.py runs the play audiences and queues people;
manual.py and recover.py are what a person does by hand, decided by the same SQL."""
