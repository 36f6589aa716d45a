"""``tablelog ui``: a local, read-only web viewer for a root (the top layer, beside cli).

The page logic (:mod:`tablelog.ui.pages`, :mod:`tablelog.ui.catalog`,
:mod:`tablelog.ui.filters`, :mod:`tablelog.ui.charts`) needs only tablelog's own
dependencies; the server (:mod:`tablelog.ui.app`, :mod:`tablelog.ui.serve`) needs the
``ui`` extra (Starlette and Uvicorn): ``pip install 'tablelog[ui]'``.
"""
