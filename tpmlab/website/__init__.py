"""The course website: the course home, every lesson (executed, so its plots show), Orbit's data
dictionary and the student versions of the assignments, as a static site built offline with
Jupyter Book 2 (MyST).

- :mod:`tpmlab.website.pages`: which pages, in teaching order, their titles and Binder links;
- :mod:`tpmlab.website.stage`: the MyST project folder made from them (``myst.yml``, executed
  copies of the lessons, a launch button on each page);
- :mod:`tpmlab.website.theme`: the site's theme (MyST's book theme) built from its npm packages;
- :mod:`tpmlab.website.build`: ``python -m tpmlab.website build`` (``make site``), which runs
  Jupyter Book on the staged project and writes the site to ``build/site/``.
"""
