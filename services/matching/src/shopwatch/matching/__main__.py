from shopwatch.matching.app import wire
from shopwatch.matching.config import MatchingSettings
from shopwatch.runtime.service_main import run_service

run_service(MatchingSettings(), wire)
