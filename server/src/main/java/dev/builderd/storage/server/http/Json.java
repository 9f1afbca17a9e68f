package dev.builderd.storage.server.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import dev.builderd.storage.core.error.InvalidInputException;
import java.io.IOException;
import java.io.UncheckedIOException;

/** Reading request bodies and writing responses as JSON. */
final class Json {

    private static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS);

    /** The largest JSON request body read. */
    private static final int MAX_JSON_BODY = 64 * 1024;

    private Json() {
    }

    /** Parses the request's body as {@code type}, as {@link #read(byte[], Class, Object)} does. */
    static <T> T read(io.javalin.http.Context ctx, Class<T> type, T empty) {
        return read(body(ctx), type, empty);
    }

    /** The request's body, at most {@value #MAX_JSON_BODY} bytes. */
    static byte[] body(io.javalin.http.Context ctx) {
        long declared = ctx.req().getContentLengthLong();
        if (declared > MAX_JSON_BODY) {
            throw new InvalidInputException("the JSON body is larger than " + MAX_JSON_BODY + " bytes");
        }
        try {
            byte[] body = RequestBodies.of(ctx).readNBytes(MAX_JSON_BODY + 1);
            if (body.length > MAX_JSON_BODY) {
                throw new InvalidInputException("the JSON body is larger than " + MAX_JSON_BODY + " bytes");
            }
            return body;
        } catch (IOException e) {
            throw new InvalidInputException("the request body could not be read: " + e.getMessage());
        }
    }


    static String write(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Parses {@code body} as {@code type}; an empty body gives {@code empty}. Malformed JSON is a 400 saying where. */
    static <T> T read(byte[] body, Class<T> type, T empty) {
        if (body.length == 0 || new String(body, java.nio.charset.StandardCharsets.UTF_8).isBlank()) {
            if (empty == null) {
                throw new InvalidInputException("the request needs a JSON body");
            }
            return empty;
        }
        try {
            return MAPPER.readValue(body, type);
        } catch (UnrecognizedPropertyException e) {
            throw new InvalidInputException("unknown field '" + e.getPropertyName() + "' in the JSON body; known fields: "
                    + e.getKnownPropertyIds());
        } catch (JsonProcessingException e) {
            throw new InvalidInputException("the JSON body is malformed: " + e.getOriginalMessage()
                    + (e.getLocation() != null ? " (line " + e.getLocation().getLineNr() + ", column "
                    + e.getLocation().getColumnNr() + ")" : ""));
        } catch (IOException e) {
            throw new InvalidInputException("the JSON body could not be read: " + e.getMessage());
        }
    }
}
