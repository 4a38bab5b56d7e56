// Starts Swagger UI on the page of /api/docs. A file of its own, not an inline script,
// so that the page's Content-Security-Policy can refuse every inline script.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.spec,
    domNode: root,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    filter: true,
    // The default asks validator.swagger.io to judge the document: nothing leaves.
    validatorUrl: null,
    // The key stays in this page's memory; it is not written to localStorage.
    persistAuthorization: false,
  });
});
