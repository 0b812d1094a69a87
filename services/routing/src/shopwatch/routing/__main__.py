from shopwatch.routing.app import wire
from shopwatch.routing.config import RoutingSettings
from shopwatch.runtime.service_main import run_service

run_service(RoutingSettings(), wire)
