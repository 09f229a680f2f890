// The API docs page (/docs): Swagger UI from the service's own files (static/swagger-ui/, vendored from npm
// swagger-ui-dist by `python -m devservices.swagger_ui`) showing /openapi.json. A script file rather than an
// inline script, so the Content-Security-Policy needs no exception. validatorUrl: null keeps Swagger UI from
// asking an outside validator about the schema.

window.SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  layout: 'BaseLayout',
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
});
