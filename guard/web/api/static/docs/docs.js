// Renders Guard's OpenAPI description with Swagger UI. A file, not an inline script, so /docs keeps a
// Content-Security-Policy that runs no inline code.
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.url,
    domNode: root,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // No call to swagger.io's online validator: the page works offline and tells nobody what it shows.
    validatorUrl: null,
    // A key typed into "Authorize" lives in this tab only.
    persistAuthorization: false,
    docExpansion: "list",
    defaultModelsExpandDepth: 0
  });
});
