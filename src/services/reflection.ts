/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha, which share every field number), so that grpcurl-style
 * tools can list, describe and call our services without local .proto files. Answers come from the descriptors
 * protoc-gen-es embeds in the generated code: a file is sent as its serialized FileDescriptorProto, followed by
 * its transitive imports, each file at most once per stream (as grpc-go does).
 */
import {
  type DescEnum,
  type DescFile,
  type DescMessage,
  type DescService,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { ServerReflection as ServerReflectionV1 } from "../gen/grpc/reflection/v1/reflection_pb.ts";
import type { ServerReflection as ServerReflectionV1alpha } from "../gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { untilAborted } from "./abortable-stream.ts";

/** The request fields both versions share (their generated types differ only in their type names). */
export interface ReflectionRequest {
  messageRequest:
    | {
        case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices";
        value: string;
      }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

/** The response's `message_response` oneof, in a shape both versions' `create()` accept. */
export type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

function errorAnswer(code: Code, errorMessage: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: code, errorMessage } };
}

/** Every file the services need, each once, imports included. */
function withImports(roots: Iterable<DescFile>): DescFile[] {
  const seen = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (seen.has(file.proto.name)) return;
    seen.set(file.proto.name, file);
    for (const dependency of file.dependencies) visit(dependency);
  };
  for (const file of roots) visit(file);
  return [...seen.values()];
}

/**
 * The symbols a file defines, named as protobuf's DescriptorPool names them: messages, their fields and oneofs,
 * enums and their values (which live in the enum's parent scope), services, methods, extensions.
 */
function symbolsOf(file: DescFile): string[] {
  const symbols: string[] = [];
  const addEnum = (desc: DescEnum) => {
    symbols.push(desc.typeName);
    const scope = desc.typeName.slice(0, desc.typeName.length - desc.name.length);
    for (const value of desc.values) symbols.push(scope + value.name);
  };
  const addMessage = (desc: DescMessage) => {
    symbols.push(desc.typeName);
    for (const field of desc.fields) symbols.push(`${desc.typeName}.${field.name}`);
    for (const oneof of desc.oneofs) symbols.push(`${desc.typeName}.${oneof.name}`);
    for (const extension of desc.nestedExtensions) symbols.push(extension.typeName);
    desc.nestedEnums.forEach(addEnum);
    desc.nestedMessages.forEach(addMessage);
  };
  file.messages.forEach(addMessage);
  file.enums.forEach(addEnum);
  for (const extension of file.extensions) symbols.push(extension.typeName);
  for (const service of file.services) {
    symbols.push(service.typeName);
    for (const method of service.methods) symbols.push(`${service.typeName}.${method.name}`);
  }
  return symbols;
}

/** Extension numbers of each message type, by the extended type's name (with their files, for lookups). */
function extensionsOf(files: DescFile[]): Map<string, Map<number, DescFile>> {
  const byType = new Map<string, Map<number, DescFile>>();
  const add = (file: DescFile, extendee: string, number: number) => {
    const numbers = byType.get(extendee) ?? new Map<number, DescFile>();
    numbers.set(number, file);
    byType.set(extendee, numbers);
  };
  const visitMessage = (file: DescFile, desc: DescMessage) => {
    for (const ext of desc.nestedExtensions) add(file, ext.extendee.typeName, ext.number);
    for (const nested of desc.nestedMessages) visitMessage(file, nested);
  };
  for (const file of files) {
    for (const ext of file.extensions) add(file, ext.extendee.typeName, ext.number);
    for (const message of file.messages) visitMessage(file, message);
  }
  return byType;
}

/** What reflection knows: the services it lists and every file they need, indexed by name and by symbol. */
export class ReflectionIndex {
  readonly serviceNames: readonly string[];
  readonly #files = new Map<string, { file: DescFile; bytes: Uint8Array }>();
  readonly #fileBySymbol = new Map<string, DescFile>();
  readonly #messageTypes = new Set<string>();
  readonly #extensions: Map<string, Map<number, DescFile>>;

  /** `services`: every service the server serves (reflection's own included), in the order they are listed. */
  constructor(services: readonly DescService[]) {
    this.serviceNames = [...new Set(services.map((service) => service.typeName))];
    const files = withImports(services.map((service) => service.file));
    for (const file of files) {
      // Serialized once: the descriptors are immutable for the life of the process.
      this.#files.set(file.proto.name, { file, bytes: toBinary(FileDescriptorProtoSchema, file.proto) });
      for (const symbol of symbolsOf(file)) this.#fileBySymbol.set(symbol, file);
      const addTypes = (messages: DescMessage[]) => {
        for (const message of messages) {
          this.#messageTypes.add(message.typeName);
          addTypes(message.nestedMessages);
        }
      };
      addTypes(file.messages);
    }
    this.#extensions = extensionsOf(files);
  }

  /**
   * Answers one request. `sent` holds the names of the files this stream has already sent, and is updated: the
   * file asked for is always sent, its imports only when the stream has not had them yet.
   */
  answer(request: ReflectionRequest, sent: Set<string>): ReflectionAnswer {
    const ask = request.messageRequest;
    switch (ask.case) {
      case "listServices":
        return {
          case: "listServicesResponse",
          value: { service: this.serviceNames.map((name) => ({ name })) },
        };
      case "fileByFilename": {
        const file = this.#files.get(ask.value)?.file;
        return file
          ? this.#fileAnswer(file, sent)
          : errorAnswer(Code.NotFound, `file "${ask.value}" not found`);
      }
      case "fileContainingSymbol": {
        // Tolerates the leading dot of a fully-qualified reference (".pkg.Type").
        const symbol = ask.value.replace(/^\./, "");
        const file = this.#fileBySymbol.get(symbol);
        return file
          ? this.#fileAnswer(file, sent)
          : errorAnswer(Code.NotFound, `symbol "${symbol}" not found`);
      }
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = ask.value;
        const file = this.#extensions.get(containingType)?.get(extensionNumber);
        return file
          ? this.#fileAnswer(file, sent)
          : errorAnswer(Code.NotFound, `extension ${extensionNumber} of "${containingType}" not found`);
      }
      case "allExtensionNumbersOfType": {
        if (!this.#messageTypes.has(ask.value))
          return errorAnswer(Code.NotFound, `type "${ask.value}" not found`);
        const numbers = [...(this.#extensions.get(ask.value)?.keys() ?? [])].sort((a, b) => a - b);
        return {
          case: "allExtensionNumbersResponse",
          value: { baseTypeName: ask.value, extensionNumber: numbers },
        };
      }
      default:
        return errorAnswer(Code.InvalidArgument, "message_request: not set");
    }
  }

  #fileAnswer(file: DescFile, sent: Set<string>): ReflectionAnswer {
    const fileDescriptorProto: Uint8Array[] = [];
    const queue = [file];
    for (let current = queue.shift(); current; current = queue.shift()) {
      const name = current.proto.name;
      if (fileDescriptorProto.length > 0 && sent.has(name)) continue;
      sent.add(name);
      fileDescriptorProto.push(this.#files.get(name)!.bytes);
      queue.push(...current.dependencies);
    }
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto } };
  }
}

/**
 * ServerReflectionInfo for either version (their messages share every field): one answer per request, in order,
 * on the same stream. The stream ends when the client ends its side, or with the call's signal: a tool that keeps
 * an idle stream open still gets CANCELLED, DEADLINE_EXCEEDED or, at shutdown, UNAVAILABLE.
 */
function answerEachRequest(index: ReflectionIndex) {
  return async function* serverReflectionInfo<Request extends ReflectionRequest & { host: string }>(
    requests: AsyncIterable<Request>,
    ctx: HandlerContext,
  ) {
    const sent = new Set<string>();
    // A bare `for await` over `requests` waits for the client's next message even after the signal aborted.
    for await (const request of untilAborted(ctx.signal, requests)) {
      yield {
        validHost: request.host,
        originalRequest: request,
        messageResponse: index.answer(request, sent),
      };
    }
  };
}

/** ServerReflectionInfo, v1 (see answerEachRequest). */
export function createReflectionV1(index: ReflectionIndex): ServiceImpl<typeof ServerReflectionV1> {
  return { serverReflectionInfo: answerEachRequest(index) };
}

/** ServerReflectionInfo, v1alpha: the same answers as v1, in v1alpha's message types. */
export function createReflectionV1alpha(index: ReflectionIndex): ServiceImpl<typeof ServerReflectionV1alpha> {
  return { serverReflectionInfo: answerEachRequest(index) };
}
