// Deployment overrides, read by app.js. By default the page derives its endpoints from
// its own location: GraphQL at /query on this origin, the WebSocket at port 8082 of
// this host (wss on https). Behind a proxy, replace this file with, for example:
//
//   window.BINCONV_CONFIG = {
//     graphqlUrl: "https://binconv.example.com/query",
//     websocketUrl: "wss://binconv.example.com/ws",
//   };
//
// The query parameters ?graphql=...&ws=... override both, for one visit.
