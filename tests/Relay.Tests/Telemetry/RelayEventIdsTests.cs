using System.Reflection;
using Microsoft.Extensions.Logging;

namespace Relay.Tests.Telemetry;

/// <summary>Every relay log message has its own event id, and refusals log at Debug (they are counted; an attack must not flood the log).</summary>
public sealed class RelayEventIdsTests
{
    private static readonly List<LoggerMessageAttribute> Messages = [.. typeof(RelayCloseCodes).Assembly.GetTypes()
        .SelectMany(type => type.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
        .Select(method => method.GetCustomAttribute<LoggerMessageAttribute>())
        .OfType<LoggerMessageAttribute>()];

    [Fact]
    public void EachEventId_NamesOneMessage()
    {
        Assert.NotEmpty(Messages);
        var shared = Messages.GroupBy(message => message.EventId)
            .Where(group => group.Select(message => message.Message).Distinct().Count() > 1)
            .Select(group => $"{group.Key}: {string.Join(" | ", group.Select(message => message.Message))}");

        Assert.Empty(shared);
    }

    [Fact]
    public void TheTable_GivesEachNameItsOwnId()
    {
        var ids = typeof(RelayEventIds).GetFields(BindingFlags.Static | BindingFlags.Public)
            .Where(field => field.IsLiteral)
            .Select(field => (Name: field.Name, Id: (int)field.GetRawConstantValue()!))
            .ToList();

        Assert.Empty(ids.GroupBy(entry => entry.Id).Where(group => group.Count() > 1).Select(group => string.Join(", ", group.Select(entry => entry.Name))));
    }

    [Theory]
    [InlineData(RelayEventIds.ConnectionReplaced)]
    [InlineData(RelayEventIds.ConnectionClosedByRelay)]
    [InlineData(RelayEventIds.PairingClosedByRelay)]
    [InlineData(RelayEventIds.PeerClosedByRelay)]
    [InlineData(RelayEventIds.PeerReplaced)]
    [InlineData(RelayEventIds.RequestRefused)]
    [InlineData(RelayEventIds.AdmissionRefused)]
    [InlineData(RelayEventIds.MalformedMessage)]
    [InlineData(RelayEventIds.RoomSocketClosedByRelay)]
    [InlineData(RelayEventIds.RoomUserReplaced)]
    [InlineData(RelayEventIds.BadRoomPacket)]
    public void RefusalsAndLimitCloses_LogAtDebug(int eventId)
    {
        var message = Assert.Single(Messages, message => message.EventId == eventId);
        Assert.Equal(LogLevel.Debug, message.Level);
    }
}
