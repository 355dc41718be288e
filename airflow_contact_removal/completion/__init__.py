"""The completion pipeline: what became of removals a vendor only accepted (it confirms later).

A hook whose vendor confirms later says so (``confirmation = "asynchronous"``), publishes its
:class:`~airflow_contact_removal.completion.outcome.CompletionRules` and reads request ids with
:meth:`read_requests`. Everything here is vendor-neutral: :mod:`.outcome` (the types),
:mod:`.folding` (outcomes into batch records and summary, pure) and :mod:`.wait` (the polling).
"""
