"""patchflow studio: a local web page over a trained run (match a sound, macro-knobs, a map of the presets).

:func:`patchflow.studio.server.create_app` builds the ASGI app; ``patchflow studio RUN`` serves it with uvicorn.
The page is plain HTML, JavaScript and CSS served by the app itself (``static/``): it loads nothing from another
host. Needs the ``studio`` extra (``pip install patchflow[studio]``).
"""
