"""Print tasks' results as they are processed (docs/subscriptions.md); with ids, only
those tasks', then exit. TOKEN=<jwt> when access control is on.

    python examples/subscribe.py ws://127.0.0.1:8082/graphql [ids...]
"""

import asyncio
import os
import sys

from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

SUBSCRIPTION = """subscription ($ids: [ID!]) {
  taskProcessed(ids: $ids) { id binaryCode createdAt processedAt }
}"""


async def main(url: str, ids: list[str]) -> None:
    token = os.environ.get("TOKEN")
    transport = WebsocketsTransport(
        url=url,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],  # graphql-transport-ws
        init_payload={"authorization": f"Bearer {token}"} if token else None,
    )
    async with Client(transport=transport) as session:
        request = GraphQLRequest(SUBSCRIPTION, variable_values={"ids": ids or None})
        async for result in session.subscribe(request):
            print(result["taskProcessed"], flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
