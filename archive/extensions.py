"""The Flask extensions, created here once and bound to an app in create_app()."""

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()

# Ids are 32-bit integers in PostgreSQL: a larger number names no row (and would overflow a query).
MAX_ID = 2**31 - 1


def get_row(model, row_id: int):
    """The row of this model with this id, or None, also for a number no id can reach."""
    return db.session.get(model, row_id) if 0 < row_id <= MAX_ID else None
