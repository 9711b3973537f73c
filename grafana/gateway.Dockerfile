# The Relay gateway image for grafana/compose.yaml. Build context: the repository root.
#   docker build -f grafana/gateway.Dockerfile -t relay-gateway .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/Relay.Gateway/Relay.Gateway.csproj -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
# Where compose.cluster.yaml mounts the nodes' shared Data Protection key ring, writable by the app's user.
RUN mkdir /keys && chown "$APP_UID" /keys
# The image listens on port 8080 (ASPNETCORE_HTTP_PORTS) as its non-root user; the default
# configuration (the root appsettings.json) is embedded in the gateway.
USER $APP_UID
EXPOSE 8080
ENTRYPOINT ["dotnet", "Relay.Gateway.dll"]
