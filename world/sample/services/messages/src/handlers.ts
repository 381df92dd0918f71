import type { handleUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from './log';
import type { Message, MessageStore } from './store';
import { failure, InvalidArgument, pageLimit, requireText } from './validate';

export interface SendMessageRequest {
  senderId: string;
  recipientId: string;
  body: string;
}
export interface SendMessageResponse {
  message: Message;
}
export interface ListMessagesRequest {
  userId: string;
  limit: number;
}
export interface ListMessagesResponse {
  messages: Message[];
}

export interface MessagesHandlers extends UntypedServiceImplementation {
  sendMessage: handleUnaryCall<SendMessageRequest, SendMessageResponse>;
  listMessages: handleUnaryCall<ListMessagesRequest, ListMessagesResponse>;
}

export const MAX_BODY = 2000;

export function messagesHandlers(store: MessageStore, log: Logger): MessagesHandlers {
  return {
    sendMessage(call, callback) {
      const send = async () => {
        const senderId = requireText(call.request.senderId, 'sender_id', 64);
        const recipientId = requireText(call.request.recipientId, 'recipient_id', 64);
        if (senderId === recipientId) throw new InvalidArgument('sender_id and recipient_id must differ');
        // The body is kept as written (whitespace included); it only has to say something.
        requireText(call.request.body, 'body', MAX_BODY);
        return { message: await store.send({ senderId, recipientId, body: call.request.body }) };
      };
      send().then(
        (response) => callback(null, response),
        (err: unknown) => callback(failure(err, 'SendMessage', log)),
      );
    },
    listMessages(call, callback) {
      const list = async () => ({ messages: await store.inbox(requireText(call.request.userId, 'user_id', 64), pageLimit(call.request.limit)) });
      list().then(
        (response) => callback(null, response),
        (err: unknown) => callback(failure(err, 'ListMessages', log)),
      );
    },
  };
}
