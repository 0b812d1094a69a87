from shopwatch.intake.app import wire
from shopwatch.intake.config import IntakeSettings
from shopwatch.runtime.service_main import run_service

run_service(IntakeSettings(), wire)
