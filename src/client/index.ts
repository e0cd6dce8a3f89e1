/**
 * `slabcast/client`: the rooms and audio clients, for browsers (the global WebSocket) and Node
 * (pass the `ws` package's WebSocket on Node 20). Imports nothing from the server.
 */
export { AudioClient, type AudioClientOptions, type StreamInfo, type UploadOptions, type UploadResult, type UploadSource } from './audio-client.js';
export { AudioClientError, AudioClientErrorCode, AudioServerCode } from './audio-errors.js';
export {
  CLOSE_REASONS,
  connectRoom,
  RoomClient,
  type CloseInfo,
  type DanmakuMessage,
  type DisconnectInfo,
  type GapInfo,
  type PresenceMessage,
  type ReadyInfo,
  type RoomEvents,
  type RoomOptions,
  type RoomServerError,
  type SystemMessage,
  type WhisperMessage,
  type WhoMessage,
} from './room-client.js';
export { type BackoffOptions, backoffDelay, type WebSocketConstructor, type WebSocketLike } from './socket.js';
