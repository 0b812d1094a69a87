from shopwatch.evidence.app import wire
from shopwatch.evidence.config import EvidenceSettings
from shopwatch.runtime.service_main import run_service

run_service(EvidenceSettings(), wire)
