// Starts GraphiQL on the endpoint named by #graphiql's data attributes.
// Loaded from /assets/ after React, ReactDOM and the GraphiQL UMD bundle; no
// inline script, so the page's Content-Security-Policy can forbid them.
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var endpoint = root.getAttribute("data-endpoint") || "/";
  var sub = root.getAttribute("data-subscription-endpoint") || endpoint;

  // A same-host path becomes ws://host/path (wss:// behind TLS).
  function wsURL(p) {
    if (/^wss?:\/\//.test(p)) return p;
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + (p.charAt(0) === "/" ? p : "/" + p);
  }

  // The bearer token: ?token= once (then dropped from the address bar), kept
  // in sessionStorage under the same key as the wallet's.
  var token = null;
  try {
    var params = new URLSearchParams(window.location.search);
    if (params.has("token")) {
      sessionStorage.setItem("mica.token", params.get("token"));
      params.delete("token");
      var q = params.toString();
      history.replaceState(null, "", window.location.pathname + (q ? "?" + q : "") + window.location.hash);
    }
    token = sessionStorage.getItem("mica.token");
  } catch (e) {
    token = null;
  }
  var headers = token ? { Authorization: "Bearer " + token } : {};

  var fetcher = GraphiQL.createFetcher({
    url: endpoint,
    subscriptionUrl: wsURL(sub),
    headers: headers,
    wsConnectionParams: headers,
  });
  var props = { fetcher: fetcher, shouldPersistHeaders: false };
  if (token) props.defaultHeaders = JSON.stringify(headers, null, 2);
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
