using Relay.Gateway;

var app = GatewayApp.Create(args);
app.Run();
