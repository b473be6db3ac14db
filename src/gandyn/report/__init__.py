"""``gandyn report``'s presentation layer: sections over the studies, one HTML page.

* :mod:`~gandyn.report.config`: the report's configuration;
* :mod:`~gandyn.report.sections`: what each section runs (studies, in process) and shows;
* :mod:`~gandyn.report.run`: the sections in order, checkpointed, then the page;
* :mod:`~gandyn.report.html`: the self-contained page; :mod:`~gandyn.report.toml_text`: configs as TOML.
"""
