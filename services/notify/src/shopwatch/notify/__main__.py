from shopwatch.notify.app import wire
from shopwatch.notify.config import NotifySettings
from shopwatch.runtime.service_main import run_service

run_service(NotifySettings(), wire)
