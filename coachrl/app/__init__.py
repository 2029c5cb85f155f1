"""The local web app of the daily coach (`coachrl serve`): today's plan, the week, history
charts, a log form and a JSON API over the athlete's log store.

    from coachrl.app import create_app, serve
    app = create_app(db_url="sqlite:///runs/demo/coach.db", checkpoint="runs/demo/coach")
    serve(port=8000, checkpoint="runs/demo/coach")     # 127.0.0.1; a token when bound elsewhere

Files: `service.py` (the store, the coach and the caches: no web code), `history.py` (the
charted series from the SHARED feature function), `charts.py` (matplotlib, offline SVG),
`pages.py` (server-rendered HTML), `security.py` (token, CSRF, Origin / Host checks, body
limit), `server.py` (routes, error handlers, `serve`).
"""

from coachrl.app.server import create_app, serve

__all__ = ["create_app", "serve"]
