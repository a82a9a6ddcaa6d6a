"""The salary model: features, metrics and sample weights (``features``), the Ray Tune search
(``tuning``), tuning + refit + evaluation + publication (``train``), the model registry and its
promotion gate (``registry``), drift (``monitoring``) and the pictures a run draws (``pictures``)."""
