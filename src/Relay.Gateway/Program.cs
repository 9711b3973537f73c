using Relay.Gateway;

var app = GatewayApp.Create(args);
GatewayApp.PrepareProcess(app);
app.Run();
