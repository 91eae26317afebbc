"""What every router shares: the FastAPI dependencies (store, project, key ring, Origin check) and the one mapping
from errors to HTTP answers."""
