"""Database layer: SQLAlchemy 2 ORM models and a small repository API (DESIGN.md).

Only the engine and the dashboard import this package.
"""

from db.connection import DEFAULT_URL, connect
from db.models import (
    Alert,
    Base,
    ClassSession,
    Course,
    ModelEvaluation,
    Observation,
    SessionStatus,
    Student,
    User,
)

__all__ = [
    "DEFAULT_URL", "connect", "Alert", "Base", "ClassSession", "Course", "ModelEvaluation",
    "Observation", "SessionStatus", "Student", "User",
]
