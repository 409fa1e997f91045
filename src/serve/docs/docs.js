// Starts Swagger UI over the service's own OpenAPI document (credrisk's, not part of swagger-ui-dist).
// No online validator badge (it would send the document elsewhere); "Try it out" calls this origin.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  displayRequestDuration: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
});
