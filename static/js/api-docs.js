// The API docs page (/api/docs/): Swagger UI from drf-spectacular-sidecar, started here
// because the CSP allows no inline script.
(function () {
  "use strict";
  var body = document.body;
  window.ui = SwaggerUIBundle({
    url: body.getAttribute("data-schema-url"),
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "BaseLayout",
    validatorUrl: null, // no badge from another origin
    requestInterceptor: function (request) {
      // "Try it out" with the browser's session: every write needs the CSRF token.
      if (request.method && request.method !== "GET") {
        request.headers[body.getAttribute("data-csrf-header")] = body.getAttribute("data-csrf-token");
      }
      return request;
    },
  });
})();
