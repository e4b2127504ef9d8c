from django.http import HttpResponse
from django.urls import path


def hello(request):
    return HttpResponse("Hello, world", content_type="text/plain")


urlpatterns = [path("healthz", hello), path("hello/", hello)]
